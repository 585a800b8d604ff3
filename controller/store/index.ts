export * from './store';
export * from './canonical';
