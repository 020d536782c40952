package lora

import (
	"fmt"
	"maps"
	"slices"
	"sync"
)

// Set holds several adapters for one base model, by name, and which of them
// is active. The zero value is an empty set with no adapter active (the
// base model). A Set is safe for concurrent use.
//
// A model serving several adapters loads each once (Load or New) and Adds
// it, then switches between them without reloading anything:
//
//	set.SetActive("legal")      // or set.Disable() for the base model
//	model.SetAdapter(set.Active())
//
// Active returns nil when the base model is selected, which is what a
// model's SetAdapter takes to remove the adapter. A forward pass should read
// Active once and use that adapter throughout, so that a switch from
// another goroutine never mixes two adapters in one pass.
type Set struct {
	mu       sync.RWMutex
	adapters map[string]*Adapter
	active   *Adapter
}

// Add adds a under a.Name. It fails if a is nil or the set already holds an
// adapter of that name. Adding does not change the active adapter.
func (s *Set) Add(a *Adapter) error {
	if a == nil {
		return fmt.Errorf("lora: Set.Add: nil adapter")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.adapters[a.Name]; dup {
		return fmt.Errorf("lora: Set.Add: an adapter named %q is already in the set", a.Name)
	}
	if s.adapters == nil {
		s.adapters = map[string]*Adapter{}
	}
	s.adapters[a.Name] = a
	return nil
}

// Get returns the adapter called name, if the set holds it.
func (s *Set) Get(name string) (*Adapter, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.adapters[name]
	return a, ok
}

// Names returns the names of the adapters in the set, sorted.
func (s *Set) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.adapters))
}

// SetActive makes the adapter called name the active one. It fails, leaving
// the active adapter unchanged, if the set holds no such adapter.
func (s *Set) SetActive(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.adapters[name]
	if !ok {
		return fmt.Errorf("lora: no adapter named %q (the set holds %q)", name, slices.Sorted(maps.Keys(s.adapters)))
	}
	s.active = a
	return nil
}

// Active returns the active adapter, or nil when none is (the base model).
func (s *Set) Active() *Adapter {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.active
}

// Disable deactivates the active adapter, selecting the base model. The
// adapters stay in the set.
func (s *Set) Disable() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active = nil
}
