export type * from './route-table/types.js';
