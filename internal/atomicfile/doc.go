// Package atomicfile writes files and folders so that neither a reader nor
// a crash ever sees a partial one: the content goes to a temporary in the
// destination's own folder (so the rename never crosses a file system), is
// synced, renamed over the destination, and the folder is synced so the
// rename itself is durable. A crash can at worst leave a stray
// ".NAME.tmp-RANDOM" behind, which is safe to delete (CleanLeftovers).
//
// WriteFile and Write do this for one file, WriteSet for files that must
// change together, and TempDir with CommitDir for a whole folder (a
// checkpoint, an adapter, a merged model), which replaces an existing one
// without ever leaving no complete copy on disk.
//
// Files and folders get the modes os.WriteFile and os.MkdirAll would give
// them (the requested mode less the process umask), not the owner-only
// modes of os.CreateTemp and os.MkdirTemp: tune's outputs are read by
// other users, such as a service that loads an adapter.
package atomicfile
