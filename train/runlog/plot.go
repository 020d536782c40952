package runlog

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"

	"github.com/tune-dev/tune/internal/atomicfile"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Point is one loss measurement: the loss after optimizer step Step.
type Point struct {
	Step int
	Loss float64
}

// Size of the loss plot: 8 x 5 inches at gonum/plot's 96 dpi for PNG,
// which is 768 x 480 pixels.
const (
	PlotWidth  = 8 * vg.Inch
	PlotHeight = 5 * vg.Inch
)

// PlotLoss draws the training loss (a line) and the evaluation loss (a
// line with a marker at each evaluation; eval may be empty) against the
// step, with axes "step" and "loss", a title and a legend, and writes it
// as a PNG of PlotWidth x PlotHeight to path, atomically (atomicfile.WriteFile;
// the directory must exist). Points with a NaN or infinite loss are left
// out (a diverged step must not stop the plot); train needs at least one
// finite point.
func PlotLoss(path string, train, eval []Point) error {
	trainXY := finitePoints(train)
	if len(trainXY) == 0 {
		return fmt.Errorf("loss plot %s: no finite training loss to plot", path)
	}
	evalXY := finitePoints(eval)

	p := plot.New()
	p.Title.Text = "Loss"
	p.X.Label.Text = "step"
	p.Y.Label.Text = "loss"
	p.Add(plotter.NewGrid())
	p.Legend.Top = true

	tl, err := plotter.NewLine(trainXY)
	if err != nil {
		return fmt.Errorf("loss plot %s: %w", path, err)
	}
	tl.Color = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	tl.Width = vg.Points(1.5)
	p.Add(tl)
	p.Legend.Add("train loss", tl)

	if len(evalXY) > 0 {
		el, es, err := plotter.NewLinePoints(evalXY)
		if err != nil {
			return fmt.Errorf("loss plot %s: %w", path, err)
		}
		orange := color.RGBA{R: 255, G: 127, B: 14, A: 255}
		el.Color = orange
		el.Width = vg.Points(1.5)
		es.Color = orange
		es.Shape = draw.CircleGlyph{}
		es.Radius = vg.Points(3)
		p.Add(el, es)
		p.Legend.Add("eval loss", el, es)
	}

	wt, err := p.WriterTo(PlotWidth, PlotHeight, "png")
	if err != nil {
		return fmt.Errorf("loss plot %s: %w", path, err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return fmt.Errorf("loss plot %s: %w", path, err)
	}
	if buf.Len() == 0 {
		return fmt.Errorf("loss plot %s: %w", path, errors.New("empty image"))
	}
	return atomicfile.WriteFile(path, buf.Bytes(), 0o644)
}

// finitePoints converts pts to plotter points, dropping non-finite losses.
func finitePoints(pts []Point) plotter.XYs {
	xy := make(plotter.XYs, 0, len(pts))
	for _, pt := range pts {
		if math.IsNaN(pt.Loss) || math.IsInf(pt.Loss, 0) {
			continue
		}
		xy = append(xy, plotter.XY{X: float64(pt.Step), Y: pt.Loss})
	}
	return xy
}
