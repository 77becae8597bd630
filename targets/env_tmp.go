package targets

import "log/slog"

// Env: temporary copy until the setup branch lands (deleted at the merge).
type Env struct {
	Name       string
	Logger     *slog.Logger
	Attributes map[Kind][]string
}
