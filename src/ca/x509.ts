// The one place @peculiar/x509 is imported. It signs through whatever WebCrypto it finds on the
// global object when first loaded; Node's is set explicitly so that issuing never depends on
// which globals a process happens to have. The library loads reflect-metadata itself.

import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto);

export { x509 };
