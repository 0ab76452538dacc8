export { loadWebappConfig, type WebappConfig, WebappConfigError } from './config.js';
export { createWebapp, formatAddress, type Webapp, type WebappOptions } from './webapp.js';
