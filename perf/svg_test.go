package perf

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func TestChartSVG(t *testing.T) {
	var b strings.Builder
	c := Chart{Title: "drain <R>", XLabel: "s", YLabel: "mails", Series: []Series{
		{Name: "on", Points: [][2]float64{{0, 0}, {10, 2000}, {30, 6000}}},
		{Name: "off & co", Points: [][2]float64{{0, 0}, {45, 6000}}, Dashed: true},
	}}
	if err := c.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	dec := xml.NewDecoder(strings.NewReader(out))
	polylines := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, out)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
		}
	}
	if polylines != 2 {
		t.Fatalf("%d polylines, want 2", polylines)
	}
	for _, want := range []string{"drain &lt;R&gt;", "off &amp; co", `stroke-dasharray`, ">6000<", ">50<"} {
		if !strings.Contains(out, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
}

func TestNiceStep(t *testing.T) {
	for _, c := range []struct{ span, want float64 }{{30, 5}, {6000, 1000}, {1, 0.2}, {0, 1}} {
		if got := niceStep(c.span, 6); got != c.want {
			t.Errorf("niceStep(%v) = %v, want %v", c.span, got, c.want)
		}
	}
}
