//go:build race

package render

// raceEnabled: the race detector makes sync.Pool drop what is put back, so
// allocation figures measured under it say nothing about the real build.
const raceEnabled = true
