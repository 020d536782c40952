// Package utf8text refuses text that is not UTF-8. JSON text must be
// UTF-8 (RFC 8259), and Python's json module, which the reference tools
// use, fails on anything else; Go's decoder instead turns each bad byte
// into U+FFFD, which would score or train on replacement characters
// without a word.
package utf8text
