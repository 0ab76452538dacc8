#!/bin/sh
# Test certificates for services-https.ts, made with openssl: a throwaway CA, and for each virtual host with `tls`
# files a certificate signed by it (webapp1 and webapp3: ECDSA P-256, webapp2: RSA 2048, so both kinds are served).
# Usage: ./make-test-certs.sh [DIR]   (default /etc/nodix/tls; give the same DIR as --extra-params '{"tlsDir": ...}')
# Clients trust DIR/ca.pem: curl --cacert DIR/ca.pem ... Never use these outside a test: the CA key lies beside them.
set -eu
dir=${1:-/etc/nodix/tls}
mkdir -p "$dir"
cd "$dir"
umask 077 # private keys readable by their owner only (the proxy warns about world-readable keys)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj '/CN=nodix example test CA' -keyout ca.key -out ca.pem 2>/dev/null
for host in webapp1.local webapp2.local webapp3.local; do
  case $host in
    webapp2.local) key='rsa:2048' ;;
    *) key='ec -pkeyopt ec_paramgen_curve:P-256' ;;
  esac
  # shellcheck disable=SC2086 # $key is two or three words on purpose
  openssl req -x509 -CA ca.pem -CAkey ca.key -newkey $key -nodes -days 30 -subj "/CN=$host" \
    -addext "subjectAltName=DNS:$host" -addext 'basicConstraints=critical,CA:FALSE' \
    -addext 'extendedKeyUsage=serverAuth' -keyout "$host.key" -out "$host.pem" 2>/dev/null
done
chmod 644 ca.pem ./*.local.pem
echo "test certificates in $dir (CA: $dir/ca.pem)"
