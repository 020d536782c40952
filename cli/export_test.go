package cli

// ServeSignals lets tests stop tune serve without a signal.
var ServeSignals = &serveSignals
