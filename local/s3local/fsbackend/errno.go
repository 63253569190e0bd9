package fsbackend

import "syscall"

// syscallENOTDIR is what MkdirAll meets when a key's directory part is a
// file (another object).
const syscallENOTDIR = syscall.ENOTDIR

// syscallENAMETOOLONG is what a key segment (or its metadata name) longer
// than the file system takes meets.
const syscallENAMETOOLONG = syscall.ENAMETOOLONG
