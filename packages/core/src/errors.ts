/** Shape of every service's error catalog entry: a stable code, its HTTP status and whether a retry can help. */
export interface CatalogEntry {
  status: number;
  retryable: boolean;
  message: string;
}
export type ErrorCatalog<K extends string> = Record<K, CatalogEntry>;

export class AppError<K extends string = string> extends Error {
  constructor(
    readonly code: K,
    readonly entry: CatalogEntry,
    readonly detail?: string,
  ) {
    super(detail ? `${entry.message}: ${detail}` : entry.message);
  }
  toJSON() {
    return {
      error: { code: this.code, message: this.message, retryable: this.entry.retryable },
    };
  }
}

export function makeErrors<K extends string>(catalog: ErrorCatalog<K>) {
  return (code: K, detail?: string) => new AppError<K>(code, catalog[code], detail);
}
