# make install: nslab, its shell completions and its man page, under PREFIX (default /usr/local).
# The completions and the man page are generated from nslab's own command line (clap).
PREFIX ?= /usr/local
DESTDIR ?=
BIN := target/release/nslab

.PHONY: build install uninstall static static-musl

build:
	cargo build --release --locked

# A static binary, for handing out without a VM: it runs on any x86-64 Linux. `static` needs
# nothing beyond the usual toolchain (glibc, linked statically; nslab uses no NSS lookups);
# `static-musl` needs the musl target (rustup target add x86_64-unknown-linux-musl).
static:
	RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target x86_64-unknown-linux-gnu
	@echo "built target/x86_64-unknown-linux-gnu/release/nslab"

static-musl:
	cargo build --release --locked --target x86_64-unknown-linux-musl
	@echo "built target/x86_64-unknown-linux-musl/release/nslab"

install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/nslab
	mkdir -p $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d $(DESTDIR)$(PREFIX)/share/man/man1
	$(BIN) completions bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/nslab
	$(BIN) completions zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_nslab
	$(BIN) completions fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/nslab.fish
	$(BIN) man > $(DESTDIR)$(PREFIX)/share/man/man1/nslab.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/nslab $(DESTDIR)$(PREFIX)/share/bash-completion/completions/nslab \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions/_nslab $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/nslab.fish \
		$(DESTDIR)$(PREFIX)/share/man/man1/nslab.1
