package podplug

import (
	"errors"
	"fmt"
)

// The codes of sdk/go's errors: the same codes, with the same meaning, as the
// TypeScript host's (docs/errors.md).
const (
	// CodeVersionUnknown: a live plugin socket but no handshake file, and
	// Options.ProtocolVersion is not set. The version is never guessed.
	CodeVersionUnknown = "ATTACH_VERSION_UNKNOWN"
	// CodeAppVersion: the located version is not one the host offers.
	CodeAppVersion = "HANDSHAKE_APP_VERSION"
)

// Error is an sdk/go error that carries a code tests and callers can match
// with errors.As or HasCode.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("podplug: [%s] %s", e.Code, e.Message) }

// HasCode tells whether err (or an error it wraps) is an *Error with code.
func HasCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

func codedf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
