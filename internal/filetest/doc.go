// Package filetest helps tests show that a command left files alone:
// CopyDir makes a scratch copy of a fixture folder, and Snapshot records
// the content, mode and modification time of every file under a path so
// that a later Snapshot can be compared with it. ReadString reads a file
// a test checks.
package filetest
