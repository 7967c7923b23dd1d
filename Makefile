# The README's two commands: `make demo` and `make test`. Both set up what they need first.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
UV     := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")

.PHONY: setup demo test bench clean

$(STAMP): pyproject.toml deploy/setup-debian.sh deploy/kafka/pom.xml
	bash deploy/setup-debian.sh
	command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) venv --allow-existing --python 3.11 $(VENV)
	$(UV) pip install --python $(PY) -e '.[test]'
	$(PY) -c "from cli.embedded_kafka import ensure_jars, default_cache_dir; ensure_jars(default_cache_dir())"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/avatar-stream --data-dir data demo --json --out out/demo.mp4

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) data out
