/** Exact k-NN (the built-in's faiss.Flat equivalent), its inference codecs and its model.tar.gz. */
export * from './search';
export * from './codec';
export * from './artifact';
