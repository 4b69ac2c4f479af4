//go:build race

package digest

// raceEnabled scales down tests that insert a million entries: the race
// detector makes each map operation an order of magnitude slower.
const raceEnabled = true
