package runlog

import (
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var _ = png.Decode // register the PNG decoder for image.DecodeConfig

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, format, err := image.DecodeConfig(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if format != "png" || cfg.Width != 768 || cfg.Height != 480 {
		t.Errorf("%s: %s %dx%d, want png 768x480", path, format, cfg.Width, cfg.Height)
	}
}

func TestPlotLoss(t *testing.T) {
	dir := t.TempDir()
	var train []Point
	for s := 1; s <= 200; s++ {
		train = append(train, Point{Step: s, Loss: 2 + math.Exp(-float64(s)/50) + 0.05*math.Sin(float64(s))})
	}
	train[50].Loss = math.NaN() // dropped, not fatal
	eval := []Point{{50, 2.6}, {100, 2.3}, {150, 2.2}, {200, 2.15}}

	path := filepath.Join(dir, "loss.png")
	if err := PlotLoss(path, train, eval); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path)

	// Without eval points, and with a single train point; overwriting.
	if err := PlotLoss(path, train[:1], nil); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path)

	// Only the plot is left: the temporary was renamed.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Name() != "loss.png" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v", names)
	}
}

func TestPlotLossErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "loss.png")
	for _, train := range [][]Point{nil, {{1, math.NaN()}, {2, math.Inf(1)}}} {
		err := PlotLoss(path, train, []Point{{1, 1}})
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("train %v: error %v (want one naming %s)", train, err, path)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("failed plot left %s behind", path)
	}
	missing := filepath.Join(dir, "no", "loss.png")
	if err := PlotLoss(missing, []Point{{1, 1}}, nil); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing directory: error %v", err)
	}
}
