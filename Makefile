PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install train test bench lint mutate readme clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

train: install
	$(BIN)/w2v train --config configs/base.yaml

# Two workers (most tests wait on process start-up and I/O more than they compute), then the tests that
# assert wall-clock bounds on their own, where no other test competes for the cores.
test: install
	$(BIN)/python -m pytest -q -n 2 -m "not timing and not mutation"
	$(BIN)/python -m pytest -q -m timing

bench: install
	$(BIN)/python benchmarks/speed_vs_peers.py
	$(BIN)/python benchmarks/memory_scaling.py
	$(BIN)/python benchmarks/phrases_vs_gensim.py
	$(BIN)/python benchmarks/cli_latency.py
	$(BIN)/python benchmarks/alignment_speed.py
	$(BIN)/python benchmarks/scale.py

lint: install
	$(BIN)/ruff check w2v tests benchmarks

# Mutation testing ([tool.mutmut] in pyproject.toml says which modules and tests); prints the survivors.
mutate: install
	$(BIN)/python -m pip install -q "mutmut>=3.8"
	$(BIN)/python -m pytest -q -m mutation
	$(BIN)/mutmut run; $(BIN)/mutmut results

# Regenerate the README's config reference from the schema (a test checks they agree).
readme: install
	$(BIN)/python -c "import pathlib; from w2v.config import reference_markdown as ref; \
	p = pathlib.Path('README.md'); s = p.read_text(); a = s.index('| key | type |'); \
	b = s.index('\n\n## Development'); p.write_text(s[:a] + ref() + s[b:])"

clean:
	rm -rf $(VENV) runs checkpoints
