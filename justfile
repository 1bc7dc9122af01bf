# clambot's recipes: a thin, documented veneer over cargo. `just --list` shows them.
# Nothing here that .ci/run cannot run.

# Run the test suite (the README's test command).
test:
    cargo test --workspace

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Rebuild the guest component from source into guest-quickjs/dist/ (installs its toolchain).
guest:
    scripts/install-guest-toolchain.sh
    cargo run -p xtask -- guest

# Rebuild the guest and fail if the bytes differ from the committed component.
guest-check:
    scripts/install-guest-toolchain.sh
    cargo run -p xtask -- guest --check

# Rebuild the example tool components (tools/*) and test fixtures into their NAME.wasm.
tools:
    scripts/install-tool-toolchain.sh
    cargo run -p xtask -- tools

# Rebuild the tool components and fail if any differs from the committed bytes.
tools-check:
    scripts/install-tool-toolchain.sh
    cargo run -p xtask -- tools --check

# Build one tool directory (e.g. what `clambot tools new` wrote) into DIR/NAME.wasm.
tool DIR:
    scripts/install-tool-toolchain.sh
    cargo run -p xtask -- tool {{DIR}}

# Scaffold, build, load and call a new tool in each language (`clambot tools new`).
scaffold-check:
    scripts/install-tool-toolchain.sh
    cargo run -p xtask -- scaffold-check

# Benchmarks (release): criterion, then docs/performance.md is rewritten.
bench:
    scripts/bench.sh

# Everything CI does, locally.
ci:
    .ci/run

# Fuzz one target (policy_parse, policy_diff, gate_decision, json_wit_value, url_address, fs_path, html_text) for SECONDS.
# policy_diff: two policies split by a `~~~` line; `diff` saying "nothing widened" must agree with the gate.
fuzz TARGET SECONDS="60":
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run {{TARGET}} corpus/{{TARGET}} -- -max_total_time={{SECONDS}}
