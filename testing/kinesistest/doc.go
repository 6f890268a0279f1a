// Package kinesistest holds helpers for tests that talk to Kinesis, or to
// an emulator of it started by package emulators: a client for an
// endpoint, stream creation, unique stream names, shard listing, putting
// records (on a chosen shard or spread over all), reading a whole stream
// back, and a counting reverse proxy.
//
// Every helper bounds its own running time, so a hung emulator fails a
// test instead of stalling it.
package kinesistest
