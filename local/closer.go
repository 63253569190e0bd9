package local

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
