package cli

// The model families the commands load: importing a family's package
// registers it with the decoder (decoder.Register), which then reads any
// model folder of that family. A new family is one more import here.
import (
	_ "github.com/tune-dev/tune/llama"
	_ "github.com/tune-dev/tune/qwen"
)
