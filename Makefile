# The two commands of the README:
#   make demo   set up everything, then run the main job on the built-in synthetic cohort
#   make test   set up everything, then run the test suite (what .ci/run calls)
VENV ?= .venv
OUT ?= runs/demo

.PHONY: setup demo test
setup:
	bash scripts/setup.sh

demo: setup
	$(VENV)/bin/hccrisk demo --out $(OUT)

test: setup
	$(VENV)/bin/python -m pytest -q --durations=15
