/** The API group and version of every Ringmaster document. */
export const API_VERSION = 'ringmaster.dev/v1alpha1';
