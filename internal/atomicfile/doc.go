// Package atomicfile writes files so that neither a reader nor a crash ever
// sees a partial one: the content goes to a temporary file in the
// destination's own folder (so the rename never crosses a file system), is
// synced, renamed over the destination, and the folder is synced so the
// rename itself is durable. A crash can at worst leave a stray
// ".NAME.tmp-RANDOM" file behind, which is safe to delete. WriteSet does the
// same for files that must change together.
//
// Files and folders get the modes os.WriteFile and os.MkdirAll would give
// them (the requested mode less the process umask), not the owner-only
// modes of os.CreateTemp and os.MkdirTemp: tune's outputs are read by
// other users, such as a service that loads an adapter.
package atomicfile
