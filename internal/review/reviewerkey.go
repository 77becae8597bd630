package review

import (
	"context"
	"fmt"
)

// ReviewerKey returns the key reviewers are known by (in items, on the
// reviewer page) of name: a user's id, userName or email address, or an
// email address of no user; ErrUnknownReviewer when it is none of those.
func (s *Service) ReviewerKey(ctx context.Context, name string) (string, error) {
	key, err := resolveReviewer(ctx, s.opts.Store, name)
	if err != nil {
		return "", err
	}
	if key == "" {
		return "", fmt.Errorf("%w: %q is no user's userName, email or id, nor an email address", ErrUnknownReviewer, name)
	}
	return key, nil
}
