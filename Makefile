# kpay-rotator build and install.
#
#   make build                      bin/kpay-rotator (static, version from git)
#   make test                       go test -race ./...
#   make check-systemd              .ci/systemd-checks (verify + security score)
#   sudo make install               install on this host (see below)
#   make install DESTDIR=/tmp/pkg   stage a package tree, no root needed
#   make man                        regenerate docs/kpay-rotator.8 from the help
#   sudo make uninstall             remove what install laid out
#
# Variables: PREFIX (default /usr), DESTDIR (default empty), VERSION
# (default `git describe --always --dirty`, or "dev" outside git), GO.
#
# Layout (PREFIX=/usr):
#   $(DESTDIR)/usr/bin/kpay-rotator                               0755
#   $(DESTDIR)/usr/lib/systemd/system/kpay-rotator.service        0644
#   $(DESTDIR)/usr/lib/sysusers.d/kpay-rotator.conf               0644
#   $(DESTDIR)/usr/lib/tmpfiles.d/kpay-rotator.conf               0644
#   $(DESTDIR)/usr/share/doc/kpay-rotator/{runbook.md,install.md,
#       iam-policy.json,prometheus-alerts.yml}                    0644
#   $(DESTDIR)/usr/share/man/man8/kpay-rotator.8                  0644
#   $(DESTDIR)/usr/share/bash-completion/completions/kpay-rotator 0644
#   $(DESTDIR)/usr/share/zsh/vendor-completions/_kpay-rotator     0644
#   $(DESTDIR)/usr/share/fish/vendor_completions.d/kpay-rotator.fish 0644
#   $(DESTDIR)/etc/kpay-rotator/                                  0755
#   $(DESTDIR)/etc/kpay-rotator/config.toml.example               0644 (always refreshed)
#   $(DESTDIR)/etc/kpay-rotator/credentials/                      0700 root
# No config.toml: an installed example would pass check-config, and an
# enabled unit would then watch the example's secrets. The admin copies
# the example and edits it (docs/install.md); until then `run` exits 78
# and says so. An existing config.toml is never touched.
# The unit's /usr/bin path follows PREFIX. Configuration stays in
# /etc/kpay-rotator whatever PREFIX is (ConfigurationDirectory=).
# The completion scripts are written by the binary being installed
# (`kpay-rotator completion SHELL`), so they always match its commands.
#
# Owners and the post-install steps (systemd-sysusers to create the
# kpay-rotator user, systemd-tmpfiles --create, systemctl daemon-reload) run only as root with
# DESTDIR empty, i.e. when installing onto this very host. Otherwise they
# are skipped without a word, and files belong to whoever ran make: a
# package applies the owner in its own manifest and runs systemd-sysusers
# and systemd-tmpfiles from its post-install script.
#
# uninstall removes the same files but keeps /etc/kpay-rotator/config.toml,
# any credentials in /etc/kpay-rotator/credentials/, the state directory
# /var/lib/kpay-rotator (the bbolt database: pair ages and rotation
# journals) and the kpay-rotator user, which may still own that state.

PREFIX      ?= /usr
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DOCDIR      ?= $(PREFIX)/share/doc/kpay-rotator
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# Debian's zsh looks in vendor-completions for packaged completions; set
# ZSHCOMPDIR=/usr/local/share/zsh/site-functions for a local install.
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/vendor-completions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
CONFDIR     := /etc/kpay-rotator

GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
BIN     := bin/kpay-rotator
DOCS    := docs/runbook.md docs/install.md docs/iam-policy.json docs/prometheus-alerts.yml

# CGO_ENABLED=0: a static binary using Go's own DNS resolver. The unit
# allows no AF_NETLINK socket; glibc's resolver (a cgo build) opens one.
GOBUILD = CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/kpay-rotator

# Installing onto this host: root and no DESTDIR.
HOST_INSTALL := $(if $(DESTDIR),,$(filter 0,$(shell id -u)))

.PHONY: all build test check-systemd man install uninstall clean

all: build

# Always hand the build to go (its cache makes this cheap).
build:
	$(GOBUILD)

# install needs the binary but should not rebuild it as root after
# `make build`: rebuild only when a Go source is newer.
$(BIN): $(shell find . -name '*.go' ! -name '*_test.go' ! -path './.git/*' 2>/dev/null) go.mod go.sum
	$(GOBUILD)

test:
	$(GO) test -race ./...

check-systemd:
	bash .ci/systemd-checks

# The page is checked in (a test fails when it is stale), so building a
# package needs no Go run of the help.
man:
	$(GO) run ./cmd/kpay-rotator man > docs/kpay-rotator.8

install: $(BIN)
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(CONFDIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/kpay-rotator
	sed -e 's|/usr/bin/kpay-rotator|$(BINDIR)/kpay-rotator|g' \
		systemd/kpay-rotator.service > $(DESTDIR)$(UNITDIR)/kpay-rotator.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/kpay-rotator.service
	install -m 0644 systemd/kpay-rotator.sysusers $(DESTDIR)$(SYSUSERSDIR)/kpay-rotator.conf
	install -m 0644 systemd/kpay-rotator.tmpfiles $(DESTDIR)$(TMPFILESDIR)/kpay-rotator.conf
	install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 0644 docs/kpay-rotator.8 $(DESTDIR)$(MANDIR)/man8/kpay-rotator.8
	$(BIN) completion bash > $(DESTDIR)$(BASHCOMPDIR)/kpay-rotator
	$(BIN) completion zsh > $(DESTDIR)$(ZSHCOMPDIR)/_kpay-rotator
	$(BIN) completion fish > $(DESTDIR)$(FISHCOMPDIR)/kpay-rotator.fish
	chmod 0644 $(DESTDIR)$(BASHCOMPDIR)/kpay-rotator $(DESTDIR)$(ZSHCOMPDIR)/_kpay-rotator $(DESTDIR)$(FISHCOMPDIR)/kpay-rotator.fish
	install -m 0644 config.toml $(DESTDIR)$(CONFDIR)/config.toml.example
	install -d -m 0700 $(DESTDIR)$(CONFDIR)/credentials
	@if [ -n "$(HOST_INSTALL)" ] && command -v systemd-sysusers >/dev/null; then \
		echo "systemd-sysusers $(SYSUSERSDIR)/kpay-rotator.conf"; \
		systemd-sysusers $(SYSUSERSDIR)/kpay-rotator.conf; \
	fi
	@if [ -n "$(HOST_INSTALL)" ]; then \
		if command -v systemd-tmpfiles >/dev/null; then \
			echo "systemd-tmpfiles --create $(TMPFILESDIR)/kpay-rotator.conf"; \
			systemd-tmpfiles --create $(TMPFILESDIR)/kpay-rotator.conf; \
		fi; \
		if [ -d /run/systemd/system ]; then echo "systemctl daemon-reload"; systemctl daemon-reload; fi; \
		echo; \
		if [ -e $(CONFDIR)/config.toml ]; then \
			echo "Kept $(CONFDIR)/config.toml; the new example is $(CONFDIR)/config.toml.example."; \
		else \
			echo "Next: cp $(CONFDIR)/config.toml.example $(CONFDIR)/config.toml, edit it,"; \
			echo "then kpay-rotator check-config (see $(DOCDIR)/install.md)."; \
		fi; \
	fi

uninstall:
	@if [ -n "$(HOST_INSTALL)" ] && [ -d /run/systemd/system ]; then \
		echo "systemctl disable --now kpay-rotator.service"; \
		systemctl disable --now kpay-rotator.service 2>/dev/null || true; \
	fi
	rm -f $(DESTDIR)$(BINDIR)/kpay-rotator
	rm -f $(DESTDIR)$(UNITDIR)/kpay-rotator.service
	rm -f $(DESTDIR)$(SYSUSERSDIR)/kpay-rotator.conf
	rm -f $(DESTDIR)$(TMPFILESDIR)/kpay-rotator.conf
	rm -f $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(DOCS)))
	rm -f $(DESTDIR)$(MANDIR)/man8/kpay-rotator.8 $(DESTDIR)$(BASHCOMPDIR)/kpay-rotator \
		$(DESTDIR)$(ZSHCOMPDIR)/_kpay-rotator $(DESTDIR)$(FISHCOMPDIR)/kpay-rotator.fish
	rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true
	rm -f $(DESTDIR)$(CONFDIR)/config.toml.example
	rmdir $(DESTDIR)$(CONFDIR)/credentials $(DESTDIR)$(CONFDIR) 2>/dev/null || true
	@if [ -n "$(HOST_INSTALL)" ] && [ -d /run/systemd/system ]; then echo "systemctl daemon-reload"; systemctl daemon-reload; fi
	@for f in $(DESTDIR)$(CONFDIR)/config.toml $(DESTDIR)$(CONFDIR)/credentials $(DESTDIR)/var/lib/kpay-rotator; do \
		if [ -e $$f ]; then echo "kept $$f"; fi; \
	done
	@if [ -n "$(HOST_INSTALL)" ] && getent passwd kpay-rotator >/dev/null; then \
		echo "kept the kpay-rotator user and group (userdel kpay-rotator once its files are gone)"; \
	fi

clean:
	rm -rf bin
