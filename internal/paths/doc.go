// Package paths compares file system paths the way the kernel sees them:
// absolute, with symbolic links resolved, so that two spellings of one
// folder (relative, through a link) compare equal.
package paths
