// Package reliability holds the fault matrix and the soak run of the
// local runtime: faults struck at every step boundary of the pipeline
// (testkit/faults), crashes followed by restarts on the same data
// directory, and the checks that no mail is ever lost. See RELIABILITY.md.
package reliability
