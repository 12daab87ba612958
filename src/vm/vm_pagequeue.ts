/*
 * A page queue: an intrusive doubly-linked list through VmPage.prev/next,
 * O(1) insert and remove; head is the oldest page (cf. TAILQ of pages).
 */

import { panic } from '../kern/panic.js';
import { PQ_NONE, type VmPage } from './vm_page.js';

export class PageQueue {
  head: VmPage | null = null;
  tail: VmPage | null = null;
  count = 0;

  constructor(readonly id: number, readonly name: string) {}

  insertTail(m: VmPage): void {
    if (m.queue !== PQ_NONE) panic(`pagequeue ${this.name}: page on queue ${m.queue}`);
    m.queue = this.id;
    m.prev = this.tail;
    m.next = null;
    if (this.tail !== null) this.tail.next = m;
    else this.head = m;
    this.tail = m;
    this.count++;
  }

  insertHead(m: VmPage): void {
    if (m.queue !== PQ_NONE) panic(`pagequeue ${this.name}: page on queue ${m.queue}`);
    m.queue = this.id;
    m.prev = null;
    m.next = this.head;
    if (this.head !== null) this.head.prev = m;
    else this.tail = m;
    this.head = m;
    this.count++;
  }

  remove(m: VmPage): void {
    if (m.queue !== this.id) panic(`pagequeue ${this.name}: page not on it`);
    if (m.prev !== null) m.prev.next = m.next;
    else this.head = m.next;
    if (m.next !== null) m.next.prev = m.prev;
    else this.tail = m.prev;
    m.prev = m.next = null;
    m.queue = PQ_NONE;
    this.count--;
  }
}
