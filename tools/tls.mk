# Demo TLS (issue 18): a throwaway CA and a server certificate for 127.0.0.1 /
# localhost, generated into envoy/demo/tls/ (gitignored, never committed).
# TEST ONLY: the CA key sits next to the certificates, so anyone with this
# checkout can mint certificates it signs. Never trust demo-ca.crt anywhere real.
#
#   make demo-tls   (run, validate and e2e depend on it)
#   curl --tlsv1.3 --cacert envoy/demo/tls/demo-ca.crt https://127.0.0.1:10443/healthz

DEMO_TLS := envoy/demo/tls

.PHONY: demo-tls
demo-tls:
	@command -v openssl >/dev/null || { echo "installing openssl (apt-get)"; \
	  (apt-get update -qq && apt-get install -y -qq openssl) >/dev/null || \
	  { echo "error: openssl is needed for the demo TLS certificate" >&2; exit 1; }; }
	@if [ -s $(DEMO_TLS)/server.crt ] && [ -s $(DEMO_TLS)/server.key ] && \
	    openssl x509 -checkend 86400 -noout -in $(DEMO_TLS)/server.crt >/dev/null 2>&1; then exit 0; fi; \
	mkdir -p $(DEMO_TLS); cd $(DEMO_TLS); \
	printf '%s\n' "TEST ONLY: made by 'make demo-tls' for the Tollgate demo. Not committed." \
	  "The CA key is here too: never trust demo-ca.crt outside this demo." > README.txt; \
	openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 -days 30 \
	  -subj "/O=Tollgate demo (TEST ONLY)/CN=Tollgate demo CA (TEST ONLY)" \
	  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	  -keyout demo-ca.key -out demo-ca.crt 2>/dev/null; \
	openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	  -subj "/O=Tollgate demo (TEST ONLY)/CN=localhost" -keyout server.key -out server.csr 2>/dev/null; \
	printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=critical,CA:FALSE" \
	  "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" > server.ext; \
	openssl x509 -req -in server.csr -CA demo-ca.crt -CAkey demo-ca.key -CAcreateserial -days 30 \
	  -extfile server.ext -out server.crt 2>/dev/null; \
	rm -f server.csr server.ext demo-ca.srl; chmod 0644 server.key; \
	echo "demo-tls: TEST-ONLY CA and certificate for 127.0.0.1 in $(DEMO_TLS)/"

run validate e2e: demo-tls
