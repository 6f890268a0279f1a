package kinesisio

import "errors"

// ErrInvalidOption is wrapped by every error an option or a transform
// constructor returns for a bad argument.
var ErrInvalidOption = errors.New("kinesisio: invalid option")
