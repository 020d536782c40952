package train

import (
	"slices"
	"testing"

	"github.com/tune-dev/tune/backend/cpu"
	"github.com/tune-dev/tune/dist"
)

// TestResumeRulesCoverArgs: every setting training_args.json records is
// either kept on resume or allowed to change, never both or neither.
func TestResumeRulesCoverArgs(t *testing.T) {
	tr := &trainer{cfg: &Config{}, b: cpu.New(1), comm: dist.Single{}}
	for k := range tr.args() {
		_, free := resumeFree[k]
		if fixed := slices.Contains(resumeFixed, k); fixed == free {
			t.Errorf("%s: in resumeFixed %v, in resumeFree %v", k, fixed, free)
		}
	}
	for k := range resumeFree {
		if _, ok := tr.args()[k]; !ok {
			t.Errorf("resumeFree names %s, which training_args.json does not record", k)
		}
	}
	for _, k := range resumeFixed {
		if _, ok := tr.args()[k]; !ok {
			t.Errorf("resumeFixed names %s, which training_args.json does not record", k)
		}
	}
}
