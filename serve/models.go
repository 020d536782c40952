package serve

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tune-dev/tune/decoder"
	"github.com/tune-dev/tune/lora"
)

// model is one name a request may ask for: the base model (dev nil) or an
// adapter over it.
type model struct {
	name    string
	dev     *decoder.DeviceAdapter
	system  string // the system turn of chats without one
	created int64
	refs    int  // requests holding it, queued or running
	removed bool // deleted: freed once refs is 0
}

// registry holds the served names. Requests take a reference at
// submission and the engine drops it when the request ends, so an adapter
// deleted while requests use it is freed after the last of them.
type registry struct {
	mu     sync.Mutex
	base   *model
	byName map[string]*model
}

func newRegistry(baseName, baseSystem string) *registry {
	base := &model{name: baseName, system: baseSystem, created: time.Now().Unix()}
	return &registry{base: base, byName: map[string]*model{baseName: base}}
}

// acquire returns the model called name with a reference taken, or a 404
// listing the names.
func (r *registry) acquire(name string) (*model, *apiError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	md, ok := r.byName[name]
	if !ok {
		return nil, &apiError{status: 404, typ: invalidRequest, param: "model", code: "model_not_found",
			message: fmt.Sprintf("the model %q does not exist; this server has %s", name, strings.Join(r.namesLocked(), ", "))}
	}
	md.refs++
	return md, nil
}

// release drops a reference and reports whether md was the last hold on
// a deleted adapter, which the caller then frees on the engine's
// goroutine.
func (r *registry) release(md *model) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	md.refs--
	return md.removed && md.refs == 0 && md.dev != nil
}

// namesLocked lists the served names, the base model's first.
func (r *registry) namesLocked() []string {
	names := []string{r.base.name}
	var rest []string
	for n := range r.byName {
		if n != r.base.name {
			rest = append(rest, n)
		}
	}
	sort.Strings(rest)
	return append(names, rest...)
}

// list returns the served models, the base model's first.
func (r *registry) list() []*model {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*model
	for _, n := range r.namesLocked() {
		out = append(out, r.byName[n])
	}
	return out
}

// adapterName is what an adapter may be called: it travels in JSON and
// URLs, so letters, digits and . _ - : only.
var adapterName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// checkNew checks that an adapter may be added as name.
func (r *registry) checkNew(name string) *apiError {
	if !adapterName.MatchString(name) {
		return badRequest("name", "adapter name %q: use 1 to 128 letters, digits, '.', '_', '-' or ':', starting with a letter or digit", name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byName[name]; ok {
		return &apiError{status: 409, typ: invalidRequest, param: "name", code: "model_exists",
			message: fmt.Sprintf("a model called %q is already served (DELETE /v1/adapters/%s first)", name, name)}
	}
	return nil
}

// add registers an uploaded adapter.
func (r *registry) add(name string, dev *decoder.DeviceAdapter, system string) (*model, *apiError) {
	if err := r.checkNew(name); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	md := &model{name: name, dev: dev, system: system, created: time.Now().Unix()}
	r.byName[name] = md
	return md, nil
}

// remove unregisters adapter name; it reports whether the adapter can be
// freed now (no request holds it).
func (r *registry) remove(name string) (*model, bool, *apiError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	md, ok := r.byName[name]
	switch {
	case !ok:
		return nil, false, &apiError{status: 404, typ: invalidRequest, param: "name", code: "model_not_found",
			message: fmt.Sprintf("no adapter called %q; this server has %s", name, strings.Join(r.namesLocked(), ", "))}
	case md == r.base:
		return nil, false, badRequest("name", "%q is the base model, which cannot be removed", name)
	}
	delete(r.byName, name)
	md.removed = true
	return md, md.refs == 0, nil
}

// adapterFiles are the files lora.Load reads from an adapter folder.
var adapterFiles = []string{"adapter_config.json", "adapter_model.safetensors", lora.SystemPromptFile}

// resolveUnder turns rel, a folder named by a request, into a path inside
// root (itself resolved), refusing absolute paths, paths that climb out
// and symbolic links that lead out, for the folder and every file
// lora.Load reads in it.
func resolveUnder(root, rel string) (string, *apiError) {
	if root == "" {
		return "", &apiError{status: 403, typ: invalidRequest, code: "adapter_loading_disabled",
			message: "loading adapters at run time is off: start tune serve with --adapter_root DIR to allow folders under DIR"}
	}
	if rel == "" || filepath.IsAbs(rel) || !filepath.IsLocal(rel) {
		return "", badRequest("path", "path %q: give a folder relative to the server's --adapter_root, without '..'", rel)
	}
	dir, err := filepath.EvalSymlinks(filepath.Join(root, rel))
	if err != nil {
		return "", badRequest("path", "path %q: no such folder under the server's --adapter_root", rel)
	}
	inside := func(p string) bool {
		r, err := filepath.Rel(root, p)
		return err == nil && filepath.IsLocal(r)
	}
	if !inside(dir) {
		return "", badRequest("path", "path %q leads outside the server's --adapter_root", rel)
	}
	for _, f := range adapterFiles {
		p, err := filepath.EvalSymlinks(filepath.Join(dir, f))
		if err == nil && !inside(p) {
			return "", badRequest("path", "path %q: %s leads outside the server's --adapter_root", rel, f)
		}
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", badRequest("path", "path %q is not a folder", rel)
	}
	return dir, nil
}
