# kpay-rotator build and install.
#
#   make build                      bin/kpay-rotator (static, version from git)
#   make test                       go test -race ./...
#   make check-systemd              .ci/systemd-checks (verify + security score)
#   sudo make install               install on this host (see below)
#   make install DESTDIR=/tmp/pkg   stage a package tree, no root needed
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
#   $(DESTDIR)/etc/kpay-rotator/                                  0755
#   $(DESTDIR)/etc/kpay-rotator/config.toml.example               0644 (always refreshed)
#   $(DESTDIR)/etc/kpay-rotator/config.toml       0640 root:kpay-rotator, only
#       when absent: an existing configuration is never overwritten
#   $(DESTDIR)/etc/kpay-rotator/credentials/                      0700 root
# The unit's /usr/bin and /usr/share/doc paths follow PREFIX. Configuration
# stays in /etc/kpay-rotator whatever PREFIX is (ConfigurationDirectory=).
#
# Owners and the post-install steps (systemd-sysusers to create the
# kpay-rotator user, chown root:kpay-rotator of a new config.toml,
# systemd-tmpfiles --create, systemctl daemon-reload) run only as root with
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

.PHONY: all build test check-systemd install uninstall clean

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

install: $(BIN)
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(CONFDIR)
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/kpay-rotator
	sed -e 's|/usr/bin/kpay-rotator|$(BINDIR)/kpay-rotator|g' \
		-e 's|/usr/share/doc/kpay-rotator|$(DOCDIR)|g' \
		systemd/kpay-rotator.service > $(DESTDIR)$(UNITDIR)/kpay-rotator.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/kpay-rotator.service
	install -m 0644 systemd/kpay-rotator.sysusers $(DESTDIR)$(SYSUSERSDIR)/kpay-rotator.conf
	install -m 0644 systemd/kpay-rotator.tmpfiles $(DESTDIR)$(TMPFILESDIR)/kpay-rotator.conf
	install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 0644 config.toml $(DESTDIR)$(CONFDIR)/config.toml.example
	install -d -m 0700 $(DESTDIR)$(CONFDIR)/credentials
	@if [ -n "$(HOST_INSTALL)" ] && command -v systemd-sysusers >/dev/null; then \
		echo "systemd-sysusers $(SYSUSERSDIR)/kpay-rotator.conf"; \
		systemd-sysusers $(SYSUSERSDIR)/kpay-rotator.conf; \
	fi
	@if [ -e $(DESTDIR)$(CONFDIR)/config.toml ]; then \
		echo "keeping the existing $(DESTDIR)$(CONFDIR)/config.toml (the new example is config.toml.example)"; \
	else \
		echo "install -m 0640 config.toml $(DESTDIR)$(CONFDIR)/config.toml"; \
		install -m 0640 config.toml $(DESTDIR)$(CONFDIR)/config.toml; \
		if [ -n "$(HOST_INSTALL)" ] && getent group kpay-rotator >/dev/null; then \
			echo "chown root:kpay-rotator $(CONFDIR)/config.toml"; \
			chown root:kpay-rotator $(CONFDIR)/config.toml; \
		fi; \
	fi
	@if [ -n "$(HOST_INSTALL)" ]; then \
		if command -v systemd-tmpfiles >/dev/null; then \
			echo "systemd-tmpfiles --create $(TMPFILESDIR)/kpay-rotator.conf"; \
			systemd-tmpfiles --create $(TMPFILESDIR)/kpay-rotator.conf; \
		fi; \
		if [ -d /run/systemd/system ]; then echo "systemctl daemon-reload"; systemctl daemon-reload; fi; \
		echo; \
		echo "Next: edit $(CONFDIR)/config.toml, then see $(DOCDIR)/install.md"; \
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
