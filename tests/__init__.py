"""The test suite, a package so that tests/synth does not shadow the real ``synth`` package."""
