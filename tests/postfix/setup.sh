#!/usr/bin/env bash
# A loopback-only Postfix instance for the delivery tests and the benchmark (issue 18), apart
# from the system's own mail setup: its own config_directory, queue_directory, log and ports,
# started with `postfix -c DIR`. Nothing in /etc/postfix is changed and nothing leaves the
# machine (every address is rewritten to one virtual Maildir; other transports are "error").
#
#   tests/postfix/setup.sh [BASE]     (default /tmp/sistercity-postfix; needs root)
#   tests/postfix/setup.sh --stop [BASE]
#
# Submission services (STARTTLS required, SASL AUTH PLAIN/LOGIN via Cyrus sasldb), each with
# one knob, all on 127.0.0.1:
#   10587  plain submission
#   10588  smtpd_client_message_rate_limit = 10 per anvil_rate_time_unit (10 s)
#   10589  smtpd_client_connection_count_limit = 2
#   10590  end-of-DATA checked by a policy service on 127.0.0.1:10599 (the test runs it and
#          decides how slowly it answers)
# BASE/env holds the user, password, ports and paths for the tests (a throw-away password for
# a loopback-only test server). Mail lands in BASE/mail/sink/new.
set -euo pipefail

stop=0
if [ "${1:-}" = "--stop" ]; then stop=1; shift; fi
BASE="${1:-/tmp/sistercity-postfix}"
ETC="$BASE/etc"

if [ "$stop" = 1 ]; then
  [ -f "$ETC/main.cf" ] && postfix -c "$ETC" stop 2>/dev/null || true
  exit 0
fi

if [ "$(id -u)" != 0 ]; then echo "setup.sh: needs root (postfix runs its daemons as root)" >&2; exit 1; fi
for tool in postfix postconf saslpasswd2 openssl; do
  command -v "$tool" >/dev/null || { echo "setup.sh: $tool is not installed" >&2; exit 1; }
done
[ -d /usr/lib/x86_64-linux-gnu/sasl2 ] || [ -n "$(ls /usr/lib/*/sasl2/libsasldb* 2>/dev/null)" ] \
  || { echo "setup.sh: libsasl2-modules (sasldb) is not installed" >&2; exit 1; }

# A fresh instance every time (an old one is stopped first).
[ -f "$ETC/main.cf" ] && postfix -c "$ETC" stop >/dev/null 2>&1 || true
rm -rf "$BASE"
mkdir -p "$ETC" "$BASE/queue" "$BASE/data" "$BASE/mail/sink" "$BASE/sasl"
USER_NAME="sender"
PASSWORD="loopback-test-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
HOST="postfix-test.localdomain"

# TLS: a self-signed certificate for 127.0.0.1 and localhost (the tests trust it as cafile).
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=localhost" \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -addext "basicConstraints=critical,CA:TRUE" \
  -keyout "$ETC/key.pem" -out "$ETC/cert.pem" 2>/dev/null
chmod 600 "$ETC/key.pem"

# SASL: Cyrus with its own sasldb (PLAIN and LOGIN, as the product speaks them). Debian's
# Postfix reads the application's config from \$config_directory/sasl/smtpd.conf.
mkdir -p "$ETC/sasl"
cat > "$ETC/sasl/smtpd.conf" <<CONF
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: $BASE/sasl/sasldb2
CONF
printf '%s' "$PASSWORD" | saslpasswd2 -p -f "$BASE/sasl/sasldb2" -c -u "$HOST" "$USER_NAME"
chown root:postfix "$BASE/sasl/sasldb2"; chmod 640 "$BASE/sasl/sasldb2"

chown postfix:postfix "$BASE/mail/sink" "$BASE/data"
POSTFIX_UID="$(id -u postfix)"; POSTFIX_GID="$(id -g postfix)"

cat > "$ETC/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $BASE/queue
data_directory = $BASE/data
maillog_file = $BASE/postfix.log
maillog_file_prefixes = $BASE
syslog_name = sistercity-postfix
myhostname = $HOST
mydomain = localdomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
alias_maps =
alias_database =
smtputf8_enable = yes
# Nothing leaves: every address goes to one virtual Maildir, anything else is an error.
default_transport = error:5.7.1 this test server delivers nowhere
relay_transport = error:5.7.1 this test server delivers nowhere
virtual_alias_maps = static:sink@sink.test
virtual_alias_domains =
virtual_mailbox_domains = sink.test
virtual_mailbox_base = $BASE/mail
virtual_mailbox_maps = static:sink/
virtual_uid_maps = static:$POSTFIX_UID
virtual_gid_maps = static:$POSTFIX_GID
virtual_minimum_uid = 1
# TLS and SASL on the submission services.
smtpd_tls_cert_file = $ETC/cert.pem
smtpd_tls_key_file = $ETC/key.pem
smtpd_tls_security_level = may
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_sasl_local_domain = $HOST
smtpd_relay_restrictions = permit_sasl_authenticated, reject
# Rate windows short enough for a test; loopback is NOT exempt from the limits.
anvil_rate_time_unit = 10s
smtpd_client_event_limit_exceptions =
CONF

SUB="-o smtpd_tls_security_level=encrypt -o smtpd_sasl_auth_enable=yes -o smtpd_tls_auth_only=yes"
cat > "$ETC/master.cf" <<CONF
127.0.0.1:10587 inet n - n - - smtpd -o syslog_name=sistercity-postfix/submission $SUB
127.0.0.1:10588 inet n - n - - smtpd -o syslog_name=sistercity-postfix/ratelimit $SUB -o smtpd_client_message_rate_limit=10
127.0.0.1:10589 inet n - n - - smtpd -o syslog_name=sistercity-postfix/connlimit $SUB -o smtpd_client_connection_count_limit=2
127.0.0.1:10590 inet n - n - - smtpd -o syslog_name=sistercity-postfix/slow $SUB -o smtpd_end_of_data_restrictions=check_policy_service,inet:127.0.0.1:10599
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
local     unix  - n n - - local
virtual   unix  - n n - - virtual
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
CONF

# postfix logs its own fatal errors only to syslog or a terminal: run it under script(1)
# when there is one, so that a failure is explained.
run_postfix() { if command -v script >/dev/null; then script -qec "postfix -c $ETC $*" /dev/null; else postfix -c "$ETC" "$@"; fi; }
run_postfix check
run_postfix start
for _ in $(seq 1 50); do
  (exec 3<>/dev/tcp/127.0.0.1/10587) 2>/dev/null && break
  sleep 0.2
done
(exec 3<>/dev/tcp/127.0.0.1/10587) 2>/dev/null || { echo "setup.sh: postfix did not start; see $BASE/postfix.log" >&2; exit 1; }

cat > "$BASE/env" <<CONF
SISTERCITY_POSTFIX_USER=$USER_NAME
SISTERCITY_POSTFIX_PASSWORD=$PASSWORD
SISTERCITY_POSTFIX_CAFILE=$ETC/cert.pem
SISTERCITY_POSTFIX_MAILDIR=$BASE/mail/sink
SISTERCITY_POSTFIX_LOG=$BASE/postfix.log
CONF
chmod 600 "$BASE/env"
echo "postfix test instance running in $BASE (submission on 127.0.0.1:10587-10590)"
