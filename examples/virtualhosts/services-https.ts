import type { Service, Services, ServicesModelArgs } from '@nodix/deployer';
import plain from './services.js';

// services.ts served over HTTPS by every target's proxy. The certificates are PEM files on the targets, in
// `tlsDir` (default /etc/nodix/tls; `--extra-params '{"tlsDir": "/path"}'`), named after the host, as
// make-test-certs.sh writes them; webapp4 gets its certificate over ACME (the target's acmeDirectory, acmeEmail).
// These settings go to the proxies' route tables only: changing a certificate reloads the proxies that route the
// host, and restarts nothing.
export default (args: ServicesModelArgs): Services => {
  const { tlsDir = '/etc/nodix/tls' } = args.extraParams as { tlsDir?: string };
  const files = (host: string) => ({ cert: `${tlsDir}/${host}.pem`, key: `${tlsDir}/${host}.key` });
  const services = plain(args);
  const https = (name: string, settings: Partial<Service>): Service => ({
    ...(services[name] as Service),
    ...settings,
  });
  return {
    ...services,
    // Plain HTTP is redirected to https, and browsers are told to stay there for a day.
    webapp1: https('webapp1', {
      tls: files('webapp1.local'),
      redirectHttps: true,
      hsts: { maxAge: 86_400 },
    }),
    // Served over both: http:// as before, https:// with its certificate.
    webapp2: https('webapp2', { tls: files('webapp2.local') }),
    webapp3: https('webapp3', { tls: files('webapp3.local') }),
    webapp4: https('webapp4', { tls: 'acme' }),
  };
};
