# make install: nslab, its shell completions and its man page, under PREFIX (default /usr/local).
# The completions and the man page are generated from nslab's own command line (clap).
PREFIX ?= /usr/local
DESTDIR ?=
BIN := target/release/nslab
STATIC := target/x86_64-unknown-linux-gnu/release/nslab
VERSION := $(shell sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -n 1)
DEB := target/debian/nslab_$(VERSION)_amd64.deb
# The package's maintainer and date (the last commit's, so that the same commit gives the same
# .deb): set DEB_MAINTAINER for a release.
DEB_MAINTAINER ?= nslab maintainers <maintainers@users.noreply.github.com>
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)

.PHONY: build install uninstall static static-musl deb

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

# install takes the binary `make` built, and builds it only when there is none: so that
# `make && sudo make install` works without cargo in root's PATH.
$(BIN):
	cargo build --release --locked

install: $(BIN)
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

# make deb: target/debian/nslab_VERSION_amd64.deb, with the static binary (so one package serves
# every Debian and Ubuntu release), the bash, zsh and fish completions and the man page. Staged
# by hand and built with dpkg-deb: nothing to install beyond dpkg, which every Debian has.
deb: static
	rm -rf target/debian/stage
	install -D -m 0755 $(STATIC) target/debian/stage/usr/bin/nslab
	strip --strip-unneeded --remove-section=.comment --remove-section=.note target/debian/stage/usr/bin/nslab
	cd target/debian/stage && mkdir -p usr/share/bash-completion/completions usr/share/zsh/vendor-completions \
		usr/share/fish/vendor_completions.d usr/share/man/man1 usr/share/doc/nslab usr/share/lintian/overrides DEBIAN
	$(STATIC) completions bash > target/debian/stage/usr/share/bash-completion/completions/nslab
	$(STATIC) completions zsh > target/debian/stage/usr/share/zsh/vendor-completions/_nslab
	$(STATIC) completions fish > target/debian/stage/usr/share/fish/vendor_completions.d/nslab.fish
	$(STATIC) man | gzip -9n > target/debian/stage/usr/share/man/man1/nslab.1.gz
	printf '%s\n' \
		'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' \
		'Upstream-Name: nslab' '' 'Files: *' \
		"Copyright: $$(date -u -d @$(SOURCE_DATE_EPOCH) +%Y) the nslab authors" \
		'License: unstated' ' The nslab repository states no license yet.' \
		> target/debian/stage/usr/share/doc/nslab/copyright
	printf 'nslab (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- %s  %s\n' \
		'$(VERSION)' '$(VERSION)' '$(DEB_MAINTAINER)' "$$(date -R -u -d @$(SOURCE_DATE_EPOCH))" \
		| gzip -9n > target/debian/stage/usr/share/doc/nslab/changelog.gz
	# nslab is linked statically on purpose (one binary for every release, no NSS lookups); a
	# static-pie executable looks to lintian like a shared library without dependencies.
	printf '%s\n' 'nslab: shared-library-lacks-prerequisites [usr/bin/nslab]' \
		> target/debian/stage/usr/share/lintian/overrides/nslab
	printf '%s\n' 'Package: nslab' 'Version: $(VERSION)' 'Architecture: amd64' \
		'Maintainer: $(DEB_MAINTAINER)' \
		"Installed-Size: $$(du -sk --exclude=DEBIAN target/debian/stage | cut -f1)" \
		'Recommends: iproute2, iputils-ping, iptables, strace, gcc, tmux' \
		'Section: net' 'Priority: optional' \
		'Description: guided Linux-networking workshops, checked against the live kernel' \
		' nslab runs hands-on lessons on network namespaces, veth pairs, bridges and' \
		' routing, written in Markdown. Each step carries checks that nslab evaluates' \
		' against the kernel over netlink: learn for students, demo for instructors,' \
		' verify for lesson authors in CI.' \
		> target/debian/stage/DEBIAN/control
	cd target/debian/stage && find usr -type f | LC_ALL=C sort | xargs md5sum > DEBIAN/md5sums
	find target/debian/stage -exec touch -h -d @$(SOURCE_DATE_EPOCH) {} +
	dpkg-deb --root-owner-group -Zxz --build target/debian/stage $(DEB) >/dev/null
	@echo "built $(DEB)"
