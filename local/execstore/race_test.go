//go:build race

package execstore_test

const raceEnabled = true
