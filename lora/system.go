package lora

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tune-dev/tune/internal/atomicfile"
)

// SystemPromptFile is the file beside adapter_config.json in which tune
// records the system prompt an adapter was trained with. It is a file of
// its own, not a key of adapter_config.json, because PEFT 0.12 and 0.13
// pass every key of adapter_config.json to LoraConfig and fail on one they
// do not know, while PeftModel.from_pretrained reads only
// adapter_config.json and the weights of the folder.
const SystemPromptFile = "tune_system_prompt.json"

// SystemPrompt records the system turn the chat template gave a run's
// training records: a record's own system turn (an instruction record's
// instruction), else the template's default. When the records differ, the
// most common one is recorded (the first seen among equals), with counts
// that say so.
type SystemPrompt struct {
	Prompt string `json:"system_prompt"`
	// Records counts the chat records trained with Prompt, out of
	// ChatRecords; Distinct is the number of different system turns among
	// the chat records.
	Records     int `json:"records"`
	ChatRecords int `json:"chat_records"`
	Distinct    int `json:"distinct_system_prompts"`
}

// Write records p in dir's SystemPromptFile (atomically, mode 0644).
func (p *SystemPrompt) Write(dir string) error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("lora: %s: %w", SystemPromptFile, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, SystemPromptFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("lora: %w", err)
	}
	return nil
}

// ReadSystemPrompt reads the system prompt recorded in dir (an adapter
// folder, or a model folder an adapter was merged into); it returns nil
// and no error when dir records none.
func ReadSystemPrompt(dir string) (*SystemPrompt, error) {
	path := filepath.Join(dir, SystemPromptFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lora: %w", err)
	}
	var p SystemPrompt
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("lora: %s: %w", path, err)
	}
	return &p, nil
}

// saveSystemPrompt writes a's system prompt into dir, or removes a file
// left there by another adapter when a records none, so that a folder
// never pairs an adapter with someone else's prompt.
func (a *Adapter) saveSystemPrompt(dir string) error {
	if a.System != nil {
		return a.System.Write(dir)
	}
	if err := os.Remove(filepath.Join(dir, SystemPromptFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("lora: %w", err)
	}
	return nil
}
