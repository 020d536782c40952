package lora_test

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tune-dev/tune/lora"
)

func TestSet(t *testing.T) {
	var s lora.Set // the zero value is ready to use
	require.Nil(t, s.Active(), "an empty set selects the base model")
	require.Empty(t, s.Names())
	require.ErrorContains(t, s.SetActive("legal"), `no adapter named "legal"`)

	legal := &lora.Adapter{Name: "legal"}
	chat := &lora.Adapter{Name: "chat"}
	require.NoError(t, s.Add(legal))
	require.NoError(t, s.Add(chat))
	require.Nil(t, s.Active(), "adding does not activate")
	require.Equal(t, []string{"chat", "legal"}, s.Names(), "sorted")

	got, ok := s.Get("chat")
	require.True(t, ok)
	require.Same(t, chat, got)
	_, ok = s.Get("missing")
	require.False(t, ok)

	steps := []struct {
		do   func() error
		want *lora.Adapter
		err  string
	}{
		{func() error { return s.SetActive("legal") }, legal, ""},
		{func() error { return s.SetActive("chat") }, chat, ""},
		{func() error { return s.SetActive("nope") }, chat, `no adapter named "nope" (the set holds ["chat" "legal"])`},
		{func() error { s.Disable(); return nil }, nil, ""},
		{func() error { return s.Add(&lora.Adapter{Name: "legal"}) }, nil, `an adapter named "legal" is already in the set`},
		{func() error { return s.Add(nil) }, nil, "nil adapter"},
		{func() error { return s.SetActive("legal") }, legal, ""},
	}
	for i, st := range steps {
		err := st.do()
		if st.err == "" {
			require.NoError(t, err, "step %d", i)
		} else {
			require.ErrorContains(t, err, st.err, "step %d", i)
		}
		require.Same(t, st.want, s.Active(), "step %d", i)
	}
	got, _ = s.Get("legal")
	require.Same(t, legal, got, "a rejected duplicate does not replace the adapter")
	require.Equal(t, []string{"chat", "legal"}, s.Names())
}

// TestSetConcurrent switches adapters while readers take the active one;
// run with -race.
func TestSetConcurrent(t *testing.T) {
	var s lora.Set
	names := []string{"a", "b", "c"}
	for _, n := range names {
		require.NoError(t, s.Add(&lora.Adapter{Name: n}))
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 200 {
				if (i+j)%4 == 3 {
					s.Disable()
				} else if err := s.SetActive(names[(i+j)%3]); err != nil {
					panic(err)
				}
				if a := s.Active(); a != nil {
					_, ok := s.Get(a.Name)
					if !ok {
						panic("active adapter not in the set")
					}
				}
			}
		})
	}
	wg.Wait()
}
