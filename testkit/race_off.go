//go:build !race

package testkit

// raceBuild reports whether this binary was built with the race detector.
const raceBuild = false
