export declare const BUILD_DIR: string;
export declare function sourceFiles(root: string): string[];
export declare function sourceDigest(root: string): string;
export declare function buildIsCurrent(root: string): boolean;
